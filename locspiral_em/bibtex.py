"""
@article{Kaur2021,
  title = {Local computational methods to improve the interpretability and analysis of cryo-EM maps},
  author = {Kaur, S. and Gomez-Blanco, J. and Khalifa, A. A. Z. and Adinarayanan, S. and Sanchez-Garcia, R. and Wrapp, D. and McLellan, J. S. and Bui, K. H. and Vargas, J.},
  journal = {Nature Communications},
  volume = {12},
  pages = {1240},
  year = {2021},
  doi = {10.1038/s41467-021-21509-5},
  url = {https://doi.org/10.1038/s41467-021-21509-5}
}
"""
# pyworkflow parses this module's docstring (above) as the plugin's bibtex; keep it pure
# bibtex. The same text is exported as a string for code that wants it.
_bibtexStr = __doc__
