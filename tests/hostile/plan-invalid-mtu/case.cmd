# A switch's MTU edited to one ESXi refuses.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/0/after/mtu = 99999
esxnet apply plan.json --target sim:lab --auto-approve
