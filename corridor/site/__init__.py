"""The site directory: the one source of truth every derived artefact is generated from."""

from corridor.site.faults import Fault, SiteInvalid
from corridor.site.loader import check_site, load_site
from corridor.site.model import Partner, Site
from corridor.site.shipped import copy_site, demo_site

__all__ = [
    "Fault", "Partner", "Site", "SiteInvalid", "check_site", "copy_site", "demo_site",
    "load_site",
]
