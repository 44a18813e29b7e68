"""Plain logic over power samples: no Home Assistant imports.

The modules here take timestamped whole-home power readings and entity transitions as
plain Python values and return plain results, so they can be tested and benchmarked
without Home Assistant; the Home Assistant side only feeds them and publishes what they
return.
"""
