# Applying the examples to a fresh lab, every change's outcome as JSON.
esxnet apply manifests --target sim:lab --auto-approve --output json
