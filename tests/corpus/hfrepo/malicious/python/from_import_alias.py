from os import system as run_cmd
run_cmd('id')
