# The dependency graph of the examples' plan, as DOT.
esxnet graph manifests --target sim:lab
