# The hosts changed after the plan was made: refused as stale, naming host and object.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply other.yaml --target sim:lab --auto-approve
esxnet apply plan.json --target sim:lab --auto-approve
