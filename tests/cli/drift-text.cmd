# A fresh lab drifts from the examples: everything is missing.
esxnet drift manifests --target sim:lab
