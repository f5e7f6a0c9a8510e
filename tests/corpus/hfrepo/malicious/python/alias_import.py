import subprocess as sp
sp.run(['id'])
