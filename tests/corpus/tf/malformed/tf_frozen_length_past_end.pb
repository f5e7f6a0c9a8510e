

xPlaceholder
È
yRelu