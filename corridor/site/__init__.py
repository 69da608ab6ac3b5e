"""The site directory: the one source of truth every derived artefact is generated from."""

from corridor.site.faults import Fault, SiteInvalid
from corridor.site.loader import check_site, load_site
from corridor.site.model import Partner, Site

__all__ = ["Fault", "Partner", "Site", "SiteInvalid", "check_site", "load_site"]
