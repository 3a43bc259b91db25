# Without a terminal and without --auto-approve, apply refuses and changes nothing.
stdin yes
esxnet apply manifests --target sim:lab
