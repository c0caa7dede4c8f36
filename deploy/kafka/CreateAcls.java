import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Creates ALLOW bindings read from stdin (principal, resource type, name, pattern type,
 * operation; tab separated) in one Admin API call, then waits until the broker's
 * authorizer reports them all.
 *
 * <p>Why not AclCommand: it takes one JVM launch per resource/operation group, about
 * three seconds each, and the Signpost policy has around twenty groups. Run it with
 * Java's source-file mode: {@code java -cp "lib/*" CreateAcls.java admin.properties}.
 */
public class CreateAcls {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of(args[0]), StandardCharsets.UTF_8)) {
            props.load(reader);
        }
        List<AclBinding> wanted = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t");
            wanted.add(new AclBinding(
                new ResourcePattern(ResourceType.valueOf(f[1]), f[2], PatternType.valueOf(f[3])),
                new AccessControlEntry(f[0], "*", AclOperation.valueOf(f[4]), AclPermissionType.ALLOW)));
        }
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(wanted).all().get();
            // The controller commits the records; the broker's authorizer applies them a moment later.
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (true) {
                Set<AclBinding> present = new HashSet<>(admin.describeAcls(AclBindingFilter.ANY).values().get());
                if (present.containsAll(wanted)) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("ACLs not visible on the broker after 30s");
                }
                Thread.sleep(100);
            }
        }
        System.out.println("ACL bindings in place: " + wanted.size());
    }
}
