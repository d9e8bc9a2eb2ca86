"""2D facial analysis of one photo: numpy in, frozen dataclasses out; no DICOM, no I/O.

The stages, in the order a photo meets them (:mod:`analysis.pipeline` runs them):

=================  ==========================================================================
``landmarks/``     find the face and its landmarks (MediaPipe, dlib, FAN, insightface, ensemble)
``refine.py``      give back the asymmetry the landmark model averaged away (mirror registration)
``confirm.py``     model + refinement again on perturbed copies: confirmed only what holds
``quality/``       is the photo fit to measure (checks) and which way the head faces (pose, view)
``scale.py``       millimetres per pixel, best source first, with its uncertainty
``measurements/``  the measurement catalogue: distances, angles, ratios, symmetry, profile
``findings.py``    measurements judged against norm tables by declarative rules
``overlay/``       annotated copies of the photo for the surgeon (written out by ``dicom/``)
``profile/``       beside them: profile points from a lateral photo's silhouette, no model
=================  ==========================================================================

Shared by the stages:

=====================  ======================================================================
``types.py``           the result dataclasses every stage and ``dicom/`` agree on
``landmark_names.py``  the one landmark vocabulary every backend maps into
``geometry.py``        the face frame and mirror axis that measurements, overlay and refine use
``serialize.py``       JSON-ready views of the results (CLI, job records, logs)
``pipeline.py``        orders the stages, times them, turns "no face" into a result
=====================  ======================================================================
"""
