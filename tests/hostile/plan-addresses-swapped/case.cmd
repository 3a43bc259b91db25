# The provisioning addresses of esx-01 and esx-02 exchanged in a saved plan.
esxnet plan manifests --target sim:lab --out plan.json
swap plan.json /changes/3/after/ipv4/address /changes/9/after/ipv4/address
esxnet apply plan.json --target sim:lab --auto-approve
