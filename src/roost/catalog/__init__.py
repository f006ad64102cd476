"""Instance offers (type, CPUs, memory, GPUs, prices) and the cheapest one that fits a spec."""

from roost.catalog.offers import Offer, OfferQuery, find_offers, load_offers, offers, resolve_offer

__all__ = ["Offer", "OfferQuery", "find_offers", "load_offers", "offers", "resolve_offer"]
