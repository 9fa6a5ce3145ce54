# mk/manifests.mk - Kubernetes manifests (included by the Makefile, after B is set).
#
#   make manifests-ca   development certificates in $(B)/certs (when missing), then the
#                       "files" certificate option under $(B)/manifests: the component used by
#                       `kubectl apply -k manifests/overlays/files` and the flat folder
#                       $(B)/manifests/files/ for `kubectl apply -f`
#   make manifests-test the manifests' and the Containerfile's checks

MANIFESTS_CERTS := $(B)/certs

.PHONY: manifests-ca manifests-test
manifests-ca: $(MANIFESTS_CERTS)/tls.crt
	@manifests/overlays/files/render.sh $(MANIFESTS_CERTS) $(B)/manifests

ifneq ($(MANIFESTS_CERTS),$(CERTS))
$(MANIFESTS_CERTS)/tls.crt: certs/gen-certs.sh
	certs/gen-certs.sh $(MANIFESTS_CERTS)
endif

manifests-test: $(B)/archgate
	python3 tests/test_manifests.py
	tests/test_containerfile.sh
