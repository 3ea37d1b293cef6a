// The MPI calls BulwarkMPI makes, as functions Swift can import: Open MPI's predefined
// handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over the addresses of global
// objects, which Swift does not import.
#include <mpi.h>

static inline MPI_Comm bulwark_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype bulwark_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype bulwark_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype bulwark_mpi_long_long(void) { return MPI_LONG_LONG; }
static inline MPI_Op bulwark_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler bulwark_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *bulwark_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *bulwark_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int bulwark_mpi_success(void) { return MPI_SUCCESS; }
static inline int bulwark_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int bulwark_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
