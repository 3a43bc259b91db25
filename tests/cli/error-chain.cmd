# An error and its cause, each printed once.
esxnet plan manifests --target sim:lab --out missing-directory/plan.json
