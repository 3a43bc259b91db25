# Making a simulated lab.
esxnet sim init lab --hosts 3 --version 7.0.3 --distributed-switch dvs-a:9000 --distributed-port-group dvs-a/dv-prov:120
