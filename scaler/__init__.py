"""calendar-scaler: a KEDA external scaler that raises replica floors before known sales.

Layers, each importing only those below it (checked by import-linter):
cli -> app -> web -> service -> sources -> calendar (the pure core: no clock, no I/O).
"""
