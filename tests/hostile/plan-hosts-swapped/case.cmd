# The host names of two hosts' plans exchanged.
esxnet plan manifests --target sim:lab --out plan.json
swap plan.json /hosts/0/host /hosts/1/host
esxnet apply plan.json --target sim:lab --auto-approve
