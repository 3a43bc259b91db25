# A saved plan edited to re-address vmk0 to the broadcast address of a /30, with
# allow_management_changes false in its own options.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/- = @vmk0-update.json
edit plan.json /hosts/0/steps/- = {"address": "esx-01.lab.example/VmkernelAdapter[vmk0]", "phase": "update"}
edit plan.json /summary/update = 5
esxnet apply plan.json --target sim:lab --auto-approve
