# A port group's VLAN edited to 4095 (all VLANs, a trunk).
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/1/after/vlan = 4095
esxnet apply plan.json --target sim:lab --auto-approve
