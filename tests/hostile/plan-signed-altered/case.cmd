# A signed plan whose recorded manifest path was changed after signing.
env ESXNET_PLAN_KEY=correct-horse
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /made_from/manifests/0/path = "elsewhere.yaml"
esxnet apply plan.json --target sim:lab --auto-approve
