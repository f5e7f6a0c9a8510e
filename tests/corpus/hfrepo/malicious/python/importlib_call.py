import importlib
m = importlib.import_module('o' + 's')
