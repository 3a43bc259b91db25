# The examples planned on a fresh lab, as text.
esxnet plan manifests --target sim:lab
