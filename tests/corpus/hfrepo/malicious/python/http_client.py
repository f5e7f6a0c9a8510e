import http.client
c = http.client.HTTPSConnection('x.example')
