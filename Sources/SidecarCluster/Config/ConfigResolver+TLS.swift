import SidecarHTTP
import SidecarSettings
import SidecarTLS

extension ConfigResolver {
    /// The TLS settings: which files go together, and the contexts they make (so that a
    /// missing or unreadable file, a key that does not match, an expired certificate or a CA
    /// file without a certificate stops start-up with the variable named).
    func resolveTLS(_ c: inout SidecarConfiguration, _ errors: inout [ConfigError]) {
        func check<T>(_ read: () throws(ConfigError) -> T?) -> T? {
            do {
                return try read()
            } catch {
                errors.append(error)
                return nil
            }
        }
        let certificate = check { () throws(ConfigError) in try reader.text(ConfigKey.clusterTLSCertFile) }
        let key = check { () throws(ConfigError) in try reader.text(ConfigKey.clusterTLSKeyFile) }
        let clientCA = check { () throws(ConfigError) in try reader.text(ConfigKey.clusterTLSClientCAFile) }
        let sans = check { () throws(ConfigError) in try reader.text(ConfigKey.clusterTLSAllowedSANs) }.map {
            $0.split(separator: ",").map { String($0.trimmingOWS()) }.filter { !$0.isEmpty }
        }
        let caFile = check { () throws(ConfigError) in try reader.text(ConfigKey.tlsCAFile) }
        var minimum = TLSVersion.v1_2
        if let text = reader.raw(ConfigKey.tlsMinVersion) {
            if let version = TLSVersion(rawValue: text) {
                minimum = version
            } else {
                errors.append(ConfigError(reader.name(ConfigKey.tlsMinVersion), "'\(text)' is not 1.2 or 1.3"))
            }
        }
        c.outboundTLS.caFile = caFile
        c.outboundTLS.minimum = minimum
        if let caFile {
            do throws(TLSFailure) {
                _ = try TLSContext.client(trustedCA: caFile, certificate: nil, key: nil, minimum: minimum)
            } catch {
                errors.append(ConfigError(reader.name(ConfigKey.tlsCAFile), error.reason))
            }
        }
        switch (certificate, key) {
        case (nil, nil):
            for (k, value) in [(ConfigKey.clusterTLSClientCAFile, clientCA), (ConfigKey.clusterTLSAllowedSANs, sans.map { _ in "" })]
            where value != nil {
                errors.append(
                    ConfigError(reader.name(k), "needs CLUSTER_TLS_CERT_FILE and CLUSTER_TLS_KEY_FILE (TLS on the cluster listener)"))
            }
            return
        case (_?, nil):
            errors.append(ConfigError(reader.name(ConfigKey.clusterTLSKeyFile), "is required with CLUSTER_TLS_CERT_FILE"))
            return
        case (nil, _?):
            errors.append(ConfigError(reader.name(ConfigKey.clusterTLSCertFile), "is required with CLUSTER_TLS_KEY_FILE"))
            return
        case (let certificate?, let key?):
            if sans != nil && clientCA == nil {
                errors.append(ConfigError(reader.name(ConfigKey.clusterTLSAllowedSANs), "needs CLUSTER_TLS_CLIENT_CA_FILE"))
                return
            }
            if let sans, sans.isEmpty {
                errors.append(ConfigError(reader.name(ConfigKey.clusterTLSAllowedSANs), "names no DNS name, IP address or URI"))
                return
            }
            do throws(TLSFailure) {
                let context = try TLSContext.server(
                    certificate: certificate, key: key, clientCA: clientCA, allowedSANs: sans ?? [], minimum: minimum)
                c.clusterTLS = ClusterTLS(
                    certificateFile: certificate, keyFile: key, clientCAFile: clientCA, allowedSANs: sans ?? [], minimum: minimum,
                    context: context)
                c.outboundTLS.certificateFile = certificate
                c.outboundTLS.keyFile = key
            } catch {
                errors.append(ConfigError(reader.name(Self.key(for: error.part)), error.reason))
            }
        }
    }

    /// The setting a context's failing part comes from.
    static func key(for part: TLSFailure.Part) -> ConfigKey {
        switch part {
        case .certificate, .library: .clusterTLSCertFile
        case .key: .clusterTLSKeyFile
        case .clientCA: .clusterTLSClientCAFile
        case .trustedCA: .tlsCAFile
        case .allowedSANs: .clusterTLSAllowedSANs
        }
    }
}
