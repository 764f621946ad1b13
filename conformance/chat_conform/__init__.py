"""chat-conform: a conformance kit for linechat/1 servers in any language.

It never imports the reference implementation (``linechat``): a checker that shares the
reference's parser shares its bugs. It launches servers by command line only.
"""
