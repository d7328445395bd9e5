"""Shared foundations of the JetClass-II production: where configs and cards live, the Delphes
tree layout, atomic file writing, console-script logging and small kinematics helpers.

Every stage package (generation → fastsim → ntuplizer → packing → training) may import this
package; it imports none of them.
"""
