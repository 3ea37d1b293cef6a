// OpenBLAS from Debian's libopenblas-dev, and glibc's allocator controls (mallopt), the two
// Linux-only C interfaces the engine uses.
#include <cblas.h>
#include <malloc.h>
