# A summary that says nothing is created.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /summary/create = 0
esxnet apply plan.json --target sim:lab --auto-approve
