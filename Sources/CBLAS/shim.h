// OpenBLAS from Debian's libopenblas-dev: cblas.h plus the thread-count controls.
#include <cblas.h>
