# A plan signed with one key, applied with another.
env ESXNET_PLAN_KEY=correct-horse
esxnet plan manifests --target sim:lab --out plan.json
env ESXNET_PLAN_KEY=battery-staple
esxnet apply plan.json --target sim:lab --auto-approve
