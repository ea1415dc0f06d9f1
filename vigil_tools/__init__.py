"""Runnable extras around the product: the one-machine demo, a sample webhook receiver, README's config table.

They sit above both sides (the demo runs edge and cloud together), so they live outside the shared `vigil`
package, which must import neither side. The webhook receiver needs only the standard library and
`vigil.signing`: copy it as the start of your own receiver.
"""
