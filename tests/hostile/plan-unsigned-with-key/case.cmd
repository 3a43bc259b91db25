# ESXNET_PLAN_KEY is set at apply and the plan was saved without it.
esxnet plan manifests --target sim:lab --out plan.json
env ESXNET_PLAN_KEY=correct-horse
esxnet apply plan.json --target sim:lab --auto-approve
