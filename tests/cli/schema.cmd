# The manifest schema.
esxnet schema
