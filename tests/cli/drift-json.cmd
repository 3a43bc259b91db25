# Drift as JSON.
esxnet drift manifests --target sim:lab --output json
