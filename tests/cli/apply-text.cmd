# Applying the examples to a fresh lab.
esxnet apply manifests --target sim:lab --auto-approve
