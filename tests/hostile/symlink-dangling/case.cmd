# A link to nothing in a manifest directory.
symlink m/gone.yaml nowhere.yaml
esxnet validate m
