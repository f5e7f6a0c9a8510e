import ctypes
lib = ctypes.CDLL('./libevil.so')
