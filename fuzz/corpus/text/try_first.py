try:
    import os
    os.system('id')
except ImportError:
    pass
