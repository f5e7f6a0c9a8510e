import os
name = f"{os.popen("id").read()}"
