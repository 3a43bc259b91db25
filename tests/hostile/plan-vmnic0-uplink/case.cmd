# vmnic0, the management switch's uplink, added to the new switch's uplinks.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/0/after/uplinks = ["vmnic0", "vmnic2", "vmnic3"]
esxnet apply plan.json --target sim:lab --auto-approve
