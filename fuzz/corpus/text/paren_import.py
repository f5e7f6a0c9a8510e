from subprocess import (
    Popen,
    PIPE,
)
Popen(['id'])
