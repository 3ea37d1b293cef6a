// The umbrella module: one import for the whole library.
@_exported import BulwarkAttacks
@_exported import BulwarkCore
@_exported import BulwarkData
@_exported import BulwarkMPI
@_exported import BulwarkNN
@_exported import BulwarkONNX
@_exported import BulwarkTraining
@_exported import BulwarkReport
@_exported import BulwarkRun
