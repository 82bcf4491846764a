"""Finding and following people: the person detector, the tracker and the crop rule (roi)."""
