package io.jvmm.monitor.qmp;

import static io.jvmm.monitor.qmp.Arg.Type.ANY;
import static io.jvmm.monitor.qmp.Arg.Type.BOOLEAN;
import static io.jvmm.monitor.qmp.Arg.Type.INTEGER;
import static io.jvmm.monitor.qmp.Arg.Type.OBJECT;
import static io.jvmm.monitor.qmp.Arg.Type.STRING;
import static io.jvmm.monitor.qmp.Arg.Type.STRING_LIST;
import static io.jvmm.monitor.qmp.Arg.optional;
import static io.jvmm.monitor.qmp.Arg.required;

import io.jvmm.monitor.qmp.QmpCommand.Result;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Every QMP command jvmm has, in one table: name, arguments (checked before the handler runs) and
 * handler. What jvmm supports of QMP is read here and nowhere else.
 */
public final class CommandTable {
    /** The negotiation command; the dispatcher runs it only before negotiation is complete. */
    public static final String CAPABILITIES = "qmp_capabilities";

    private final Map<String, QmpCommand> commands = new LinkedHashMap<>();

    private CommandTable(List<QmpCommand> list) {
        for (QmpCommand c : list) {
            if (commands.put(c.name(), c) != null) {
                throw new IllegalStateException("QMP command " + c.name() + " is in the table twice");
            }
        }
    }

    /** The table for {@code context}'s machine. */
    public static CommandTable create(QmpContext context) {
        List<QmpCommand> list = new ArrayList<>();
        CommandTable[] self = new CommandTable[1];
        Queries queries = new Queries(context, () -> self[0].names());
        RunControl run = new RunControl(context);
        Qom qom = new Qom(context);
        DeviceCommands devices = new DeviceCommands(context);
        HumanMonitor hmp = new HumanMonitor(context, qom);
        BlockExportCommands nbd = new BlockExportCommands(context);

        list.add(QmpCommand.of(CAPABILITIES, CommandTable::capabilities, optional("enable", STRING_LIST)));

        list.add(QmpCommand.of("query-version", queries::queryVersion));
        list.add(QmpCommand.of("query-commands", queries::queryCommands));
        list.add(QmpCommand.of("query-status", run::queryStatus));
        list.add(QmpCommand.of("query-pci", queries::queryPci));
        list.add(QmpCommand.of("query-block", queries::queryBlock));
        list.add(QmpCommand.of("query-chardev", queries::queryChardev));

        list.add(QmpCommand.of("stop", run::stop));
        list.add(QmpCommand.of("cont", run::cont));
        list.add(QmpCommand.of("system_reset", run::systemReset));
        list.add(QmpCommand.of("quit", run::quit));

        list.add(QmpCommand.of("qom-list", qom::list, required("path", STRING)));
        list.add(QmpCommand.of("qom-get", qom::get, required("path", STRING), required("property", STRING)));
        list.add(QmpCommand.of("qom-set", qom::set, required("path", STRING), required("property", STRING), required("value", ANY)));

        list.add(new QmpCommand("device_add", List.of(required("driver", STRING), optional("bus", STRING), optional("id", STRING)),
                true, devices::add));
        list.add(QmpCommand.of("device_del", devices::delete, required("id", STRING)));

        list.add(QmpCommand.of("human-monitor-command", hmp::run, required("command-line", STRING), optional("cpu-index", INTEGER)));

        list.add(QmpCommand.of("nbd-server-start", nbd::serverStart, required("addr", OBJECT), optional("tls-creds", STRING),
                optional("tls-authz", STRING), optional("max-connections", INTEGER)));
        list.add(QmpCommand.of("block-export-add", nbd::exportAdd, required("type", STRING), required("id", STRING),
                required("node-name", STRING), optional("name", STRING), optional("description", STRING),
                optional("writable", BOOLEAN), optional("writethrough", BOOLEAN), optional("iothread", STRING),
                optional("fixed-iothread", BOOLEAN), optional("bitmaps", STRING_LIST), optional("allocation-depth", BOOLEAN)));
        list.add(QmpCommand.of("block-export-del", nbd::exportDelete, required("id", STRING), optional("mode", STRING)));
        list.add(QmpCommand.of("nbd-server-stop", nbd::serverStop));
        list.add(QmpCommand.of("query-block-exports", nbd::query));

        self[0] = new CommandTable(list);
        return self[0];
    }

    /** {@code qmp_capabilities}: jvmm offers no capability (no out-of-band execution). */
    private static Result capabilities(Arguments a) {
        List<String> enable = a.strings("enable");
        for (int i = 0; i < enable.size(); i++) {
            if (!enable.get(i).equals("oob")) {
                throw QmpError.generic("Parameter 'enable[" + i + "]' does not accept value '" + enable.get(i) + "'");
            }
            throw QmpError.generic("Capability '" + enable.get(i) + "' not available");
        }
        return Result.empty();
    }

    public Optional<QmpCommand> get(String name) {
        return Optional.ofNullable(commands.get(name));
    }

    /** Every command's name, in the table's order. */
    public List<String> names() {
        return List.copyOf(commands.keySet());
    }
}
