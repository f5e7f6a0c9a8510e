from urllib import request
request.urlopen('https://x.example/p')
