# A recorded manifest's content edited without its digest.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /made_from/manifests/2/content = "apiVersion: esxnet/v1\n"
esxnet apply plan.json --target sim:lab --auto-approve
