# A saved plan edited to delete the management adapter, summary and steps made to agree.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/- = @vmk0-delete.json
edit plan.json /hosts/0/steps/- = {"address": "esx-01.lab.example/VmkernelAdapter[vmk0]", "phase": "delete"}
edit plan.json /summary/delete = 1
esxnet apply plan.json --target sim:lab --auto-approve
